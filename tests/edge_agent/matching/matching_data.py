"""Which ea-nuaa-webcam-15 subjects the matching tests enrol and which stay strangers."""

ENROLLED = ("0001", "0004", "0005", "0006", "0007", "0009")  # two or more sessions each
STRANGERS = ("0010", "0011", "0012", "0013", "0014", "0015")  # never enrolled
