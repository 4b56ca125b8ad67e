"""Governed data sharing: recipients, data requests, consents, minimised exports and the
data-subject report (`service.SharingService`)."""
