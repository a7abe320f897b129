"""Face vision shared by recognition and enrolment: detect → align → embed, plus a quality score."""
