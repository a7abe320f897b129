"""To and from the central server: the outbox, the MQTT link, down-sync of control messages, reconciliation."""
