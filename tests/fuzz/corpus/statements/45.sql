SET datafusion.execution.time_zone = '+01:00'
