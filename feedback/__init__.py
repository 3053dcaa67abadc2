"""The feedback loop: every chat completion logged off the request path, thumbs and corrections from users,
export to SFT/DPO training files, and A/B experiments between variants of a served model.

Entry point for the server: `feedback.service.FeedbackService(settings.feedback, settings.pii, home)`;
the record it logs: `ChatRecord`."""

from feedback.records import ChatRecord, Feedback

__all__ = ["ChatRecord", "Feedback"]
