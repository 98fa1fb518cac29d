__layer__ = "shell"
