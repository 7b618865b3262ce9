"""Messages for the charging error codes (merged by evpower.api.messages). CLIENT_BLOCKED
and ACCOUNT_PENDING_DELETION are the accounts app's."""

MESSAGES: dict[str, dict[str, str]] = {
    "STATION_UNAVAILABLE": {
        "en": "This station is out of service.",
        "ru": "Эта станция не обслуживается.",
        "ky": "Бул станция иштебей турат.",
    },
    "STATION_OFFLINE": {
        "en": "The station is offline. Please try another one.",
        "ru": "Станция не в сети. Попробуйте другую.",
        "ky": "Станция тармакта эмес. Башкасын колдонуп көрүңүз.",
    },
    "STATION_UNREACHABLE": {
        "en": "The station cannot be reached right now. Please try again in a minute.",
        "ru": "Сейчас не удаётся связаться со станцией. Попробуйте ещё раз через минуту.",
        "ky": "Азыр станция менен байланышуу мүмкүн эмес. Бир мүнөттөн кийин кайра аракет кылыңыз.",
    },
    "CONNECTOR_OCCUPIED": {
        "en": "This connector is busy.",
        "ru": "Этот разъём занят.",
        "ky": "Бул туташтыргыч бош эмес.",
    },
    "CONNECTOR_UNAVAILABLE": {
        "en": "This connector is not available right now.",
        "ru": "Этот разъём сейчас недоступен.",
        "ky": "Бул туташтыргыч азыр жеткиликсиз.",
    },
    "SESSION_ALREADY_ACTIVE": {
        "en": "You already have a charging session in progress.",
        "ru": "У вас уже идёт сеанс зарядки.",
        "ky": "Сизде кубаттоо сеансы жүрүп жатат.",
    },
    "TARIFF_NOT_AVAILABLE": {
        "en": "Charging is not on sale on this connector right now.",
        "ru": "Зарядка на этом разъёме сейчас не продаётся.",
        "ky": "Бул туташтыргычта азыр кубаттоо сатылбайт.",
    },
    "LIMIT_TOO_LOW": {
        "en": "The amount limit is below the minimum for a session.",
        "ru": "Лимит суммы ниже минимального для сеанса.",
        "ky": "Сумманын чеги сеанс үчүн минимумдан төмөн.",
    },
    "START_REJECTED": {
        "en": "The station refused to start. Please try again.",
        "ru": "Станция отказалась начать зарядку. Попробуйте ещё раз.",
        "ky": "Станция кубаттоону баштоодон баш тартты. Кайра аракет кылыңыз.",
    },
    "STATION_TIMEOUT": {
        "en": "The station did not answer in time. Nothing was charged.",
        "ru": "Станция не ответила вовремя. Деньги не списаны.",
        "ky": "Станция убагында жооп берген жок. Акча алынган жок.",
    },
    "STOP_FAILED": {
        "en": "The station did not accept the stop. Please try again.",
        "ru": "Станция не приняла остановку. Попробуйте ещё раз.",
        "ky": "Станция токтотууну кабыл алган жок. Кайра аракет кылыңыз.",
    },
}
