"""What every app's API shares: pagination, the error format, common fields and views."""
