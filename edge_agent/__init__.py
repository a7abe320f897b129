"""Everything that runs at a school: frame sources, vision, gallery, tracking, attendance, outbox, MQTT."""
