"""Payloads shaped like Meta's webhooks, for tests that write capture files."""


def envelope(value: dict, **outer: object) -> dict:
    """A Meta webhook envelope with one `messages` change holding `value`."""
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "102290129340398",
                "changes": [
                    {
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": "15550783881",
                                "phone_number_id": "106540352242922",
                            },
                            **value,
                        },
                        "field": "messages",
                    }
                ],
            }
        ],
        **outer,
    }
