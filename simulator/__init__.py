"""A simulated WhatsApp-first workspace: generated, served like the real sources, with an oracle."""
