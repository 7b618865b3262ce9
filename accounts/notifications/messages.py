"""What drivers are told, in their language (ru, ky, en).

`render(event, language, **params)` returns (title, body). Numbers are formatted per
language (a decimal comma in ru/ky), money with its currency's local name. A language not
in the catalog falls back to Russian (the default language of a client).
"""

from __future__ import annotations

from decimal import Decimal

DEFAULT_LANGUAGE = "ru"

SESSION_STARTED = "session_started"
SESSION_COMPLETED = "session_completed"
SESSION_STOPPED_LIMIT = "session_stopped_limit"
SESSION_STOPPED_MAX_DURATION = "session_stopped_max_duration"
SESSION_CANCELLED_NO_PLUG_IN = "session_cancelled_no_plug_in"
CHARGER_ERROR = "charger_error"
PAYMENT_CONFIRMED = "payment_confirmed"
LOW_BALANCE = "low_balance"

# event → language → (title, body); bodies use str.format with the params below
CATALOG: dict[str, dict[str, tuple[str, str]]] = {
    SESSION_STARTED: {
        "ru": ("Зарядка началась", "Зарядка на станции {place} началась."),
        "ky": ("Кубаттоо башталды", "{place} станциясында кубаттоо башталды."),
        "en": ("Charging started", "Charging at {place} has started."),
    },
    SESSION_COMPLETED: {
        "ru": ("Зарядка завершена", "Получено {energy} кВт·ч, стоимость {cost}."),
        "ky": ("Кубаттоо аяктады", "{energy} кВт·саат алынды, баасы {cost}."),
        "en": ("Charging complete", "{energy} kWh delivered, cost {cost}."),
    },
    SESSION_STOPPED_LIMIT: {
        "ru": (
            "Зарядка остановлена по лимиту",
            "Достигнут заданный вами лимит. Получено {energy} кВт·ч, стоимость {cost}.",
        ),
        "ky": (
            "Кубаттоо чек боюнча токтотулду",
            "Сиз койгон чекке жетти. {energy} кВт·саат алынды, баасы {cost}.",
        ),
        "en": (
            "Charging stopped: limit reached",
            "The limit you set was reached. {energy} kWh delivered, cost {cost}.",
        ),
    },
    SESSION_STOPPED_MAX_DURATION: {
        "ru": (
            "Зарядка остановлена автоматически",
            "Сессия достигла предела в {hours} ч. Получено {energy} кВт·ч, стоимость {cost}.",
        ),
        "ky": (
            "Кубаттоо автоматтык түрдө токтотулду",
            "Сеанс {hours} сааттык чекке жетти. {energy} кВт·саат алынды, баасы {cost}.",
        ),
        "en": (
            "Charging stopped automatically",
            "The session reached its {hours}-hour limit. {energy} kWh delivered, cost {cost}.",
        ),
    },
    SESSION_CANCELLED_NO_PLUG_IN: {
        "ru": (
            "Зарядка отменена",
            "Автомобиль не был подключён за {minutes} мин. Заблокированная сумма "
            "возвращена на баланс.",
        ),
        "ky": (
            "Кубаттоо жокко чыгарылды",
            "Унаа {minutes} мүнөттүн ичинде туташтырылган жок. Кармалган сумма "
            "балансыңызга кайтарылды.",
        ),
        "en": (
            "Charging cancelled",
            "The car was not plugged in within {minutes} minutes. The held amount is "
            "back on your balance.",
        ),
    },
    CHARGER_ERROR: {
        "ru": (
            "Ошибка зарядной станции",
            "Станция {place} сообщила об ошибке ({error}). Зарядка могла прерваться.",
        ),
        "ky": (
            "Кубаттоо станциясында ката",
            "{place} станциясы ката жөнүндө кабарлады ({error}). Кубаттоо токтошу мүмкүн.",
        ),
        "en": (
            "Charger error",
            "The charger at {place} reported an error ({error}). Charging may have stopped.",
        ),
    },
    PAYMENT_CONFIRMED: {
        "ru": ("Оплата получена", "На ваш баланс зачислено {amount}."),
        "ky": ("Төлөм кабыл алынды", "Балансыңызга {amount} түштү."),
        "en": ("Payment received", "{amount} has been added to your balance."),
    },
    LOW_BALANCE: {
        "ru": (
            "Низкий баланс",
            "На вашем балансе {balance}. Пополните его, чтобы продолжать заряжаться.",
        ),
        "ky": ("Баланс аз", "Балансыңызда {balance} калды. Кубаттоону улантуу үчүн толуктаңыз."),
        "en": ("Low balance", "Your balance is {balance}. Top up to keep charging."),
    },
}

CURRENCY_NAMES = {
    "KGS": {"ru": "сом", "ky": "сом", "en": "KGS"},
    "UZS": {"ru": "сум", "ky": "сум", "en": "UZS"},
}

MONEY_PARAMS = ("cost", "amount", "balance")


def language_of(language: str | None) -> str:
    return language if language in ("ru", "ky", "en") else DEFAULT_LANGUAGE


def number(value: Decimal | str | int | float, language: str, places: int = 2) -> str:
    """12.5 → "12.50" (en) / "12,50" (ru, ky)."""
    text = f"{Decimal(str(value)):.{places}f}"
    return text if language == "en" else text.replace(".", ",")


def amount(value: Decimal | str, currency: str, language: str) -> str:
    name = CURRENCY_NAMES.get(currency, {}).get(language, currency)
    return f"{number(value, language)} {name}"


def render(event: str, language: str | None, **params) -> tuple[str, str]:
    """(title, body) of `event` in `language`. Money params (cost, amount, balance) are
    Decimal strings shown with `currency`; `energy_wh` is shown as kWh."""
    language = language_of(language)
    texts = CATALOG[event]
    title, body = texts.get(language) or texts[DEFAULT_LANGUAGE]
    values = dict(params)
    currency = values.pop("currency", "")
    for name in MONEY_PARAMS:
        if values.get(name) is not None:
            values[name] = amount(values[name], currency, language)
    if "energy_wh" in values:
        values["energy"] = number(Decimal(int(values.pop("energy_wh") or 0)) / 1000, language)
    values.setdefault("place", "—")
    values.setdefault("error", "—")
    return title, body.format_map(_Missing(values))


class _Missing(dict):
    """A parameter the caller did not give shows as a dash, not a KeyError."""

    def __missing__(self, key: str) -> str:
        return "—"
