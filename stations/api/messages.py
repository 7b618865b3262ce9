"""Error messages of the stations API codes (merged by evpower.api.messages)."""

MESSAGES: dict[str, dict[str, str]] = {
    # raised by charging when `stations.pricing.quote` finds no rule for the connector
    "NO_TARIFF": {"en": "This connector has no price at the moment.",
                  "ru": "Для этого разъёма сейчас не задан тариф.",
                  "ky": "Бул туташтыргыч үчүн азыр тариф белгиленген эмес."},
}
