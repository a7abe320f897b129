"""The province education operations centre (IOC): indicators from aggregate tables, alerts, the city IOC API."""
