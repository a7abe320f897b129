"""Digital library and learning-material repository: catalogue, appraisal, Vietnamese search, OAI-PMH, MARC 21."""
