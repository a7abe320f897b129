"""The `enroll` CLI for school IT staff: roster, consent, photo enrolment, erasure, gallery packages."""
