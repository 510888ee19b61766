from django.apps import AppConfig


class AimonitorConfig(AppConfig):
    name = "aimonitor"
    verbose_name = "AIMonitor"
