"""The shop: orders whose confirmation emails are sent by a worker, not by the web request."""
