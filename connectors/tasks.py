"""Background tasks. The task queue only triggers work: the Delivery row is the durable record of it."""

from django.tasks import task


@task()
def process_delivery_task(delivery_id: int) -> str:
    from .deliveries import process_delivery

    return process_delivery(delivery_id)
