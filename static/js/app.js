// Small progressive enhancements; every page works without this file.
document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-copy]");
  if (button) {
    const source = document.getElementById(button.dataset.copy);
    navigator.clipboard.writeText(source.innerText.trim()).then(() => {
      const label = button.textContent;
      button.textContent = "Copied";
      setTimeout(() => { button.textContent = label; }, 1500);
    });
    return;
  }
  // Close an open <details> menu (or the phone Menu) when clicking elsewhere.
  document.querySelectorAll("details.menu[open], details.navmenu[open]").forEach((menu) => {
    if (!menu.contains(event.target)) menu.removeAttribute("open");
  });
  const toggleAll = event.target.closest("[data-toggle-all]");
  if (toggleAll) {
    document.querySelectorAll(`input[name="${toggleAll.dataset.toggleAll}"]`).forEach((box) => { box.checked = toggleAll.checked; });
  }
});
document.addEventListener("keydown", (event) => {
  if (event.key === "Escape") {
    document.querySelectorAll("details.menu[open], details.navmenu[open]").forEach((menu) => {
      menu.removeAttribute("open");
      menu.querySelector("summary").focus();
    });
  }
});
// Confirmation for destructive buttons: data-confirm="..." (the server still asks on a confirmation page without JS).
document.addEventListener("submit", (event) => {
  const message = event.submitter && event.submitter.dataset.confirm;
  if (message && !window.confirm(message)) event.preventDefault();
});
