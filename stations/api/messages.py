"""Error messages of the stations API codes (merged by evpower.api.messages)."""

MESSAGES: dict[str, dict[str, str]] = {
    # raised by charging when `stations.pricing.quote` finds no rule for the connector
    "NO_TARIFF": {
        "en": "This connector has no price at the moment.",
        "ru": "Для этого разъёма сейчас не задан тариф.",
        "ky": "Бул туташтыргыч үчүн азыр тариф белгиленген эмес.",
    },
    # promo codes (stations.promos)
    "PROMO_NOT_FOUND": {
        "en": "There is no such promo code.",
        "ru": "Такого промокода нет.",
        "ky": "Мындай промокод жок.",
    },
    "PROMO_EXPIRED": {
        "en": "This promo code is not valid now.",
        "ru": "Этот промокод сейчас недействителен.",
        "ky": "Бул промокод азыр жарактуу эмес.",
    },
    "PROMO_EXHAUSTED": {
        "en": "This promo code has been used up.",
        "ru": "Этот промокод больше не доступен: лимит исчерпан.",
        "ky": "Бул промокоддун лимити түгөндү.",
    },
    "PROMO_ALREADY_USED": {
        "en": "You have already used this promo code.",
        "ru": "Вы уже использовали этот промокод.",
        "ky": "Сиз бул промокодду мурун колдонгонсуз.",
    },
}
