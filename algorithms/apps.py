from django.apps import AppConfig


class AlgorithmsConfig(AppConfig):
    name = "algorithms"
    verbose_name = "Algorithms"
