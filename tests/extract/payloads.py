"""Payloads shaped like Meta's webhooks, for tests that write capture files."""

import json

PHONE = "15550001111"


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


def incoming(n: int) -> dict:
    """An envelope with one incoming text message, `wamid.TEST<n>` from PHONE."""
    return envelope(
        {
            "contacts": [{"profile": {"name": "Sheena Nelson"}, "wa_id": PHONE}],
            "messages": [
                {
                    "from": PHONE,
                    "id": f"wamid.TEST{n}",
                    "timestamp": str(1750000000 + n),
                    "type": "text",
                    "text": {"body": f"message {n}"},
                }
            ],
        }
    )


def line(payload: object) -> str:
    """`payload` as one capture line."""
    return json.dumps(payload) + "\n"
