"""Grade-10 admissions: the yearly plan as data, registration, score import, allocation, results lookup."""
