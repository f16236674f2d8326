"""Celery tasks of the members app: thin wrappers around its services."""

from celery import shared_task

from loyalty import emails
from loyalty.tasks import EMAIL_TASK_OPTIONS
from members.emails import welcome_email_send


@shared_task(**EMAIL_TASK_OPTIONS)
def send_welcome_email(self, member_id: int) -> bool:
    return bool(emails.deliver(self, lambda: welcome_email_send(member_id=member_id)))
