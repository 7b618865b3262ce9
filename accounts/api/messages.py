"""Messages for the accounts error codes (merged by evpower.api.messages)."""

MESSAGES: dict[str, dict[str, str]] = {
    "OTP_INVALID": {"en": "The code is wrong.", "ru": "Неверный код.", "ky": "Код туура эмес."},
    "OTP_EXPIRED": {
        "en": "The code has expired or was used up. Request a new one.",
        "ru": "Код истёк или уже использован. Запросите новый.",
        "ky": "Коддун мөөнөтү бүттү же колдонулган. Жаңысын сураңыз.",
    },
    "OTP_DELIVERY_FAILED": {
        "en": "We could not send the code. Please try again.",
        "ru": "Не удалось отправить код. Попробуйте ещё раз.",
        "ky": "Кодду жөнөтүү мүмкүн болгон жок. Кайра аракет кылыңыз.",
    },
    "TOKEN_REUSED": {
        "en": "This login was used from another device and has been closed. Please log in again.",
        "ru": "Этот вход использован с другого устройства и закрыт. Войдите снова.",
        "ky": "Бул кирүү башка түзмөктөн колдонулуп, жабылды. Кайра кириңиз.",
    },
    "CLIENT_BLOCKED": {
        "en": "Your account is blocked. Please contact support.",
        "ru": "Ваш аккаунт заблокирован. Обратитесь в поддержку.",
        "ky": "Аккаунтуңуз бөгөттөлгөн. Колдоо кызматына кайрылыңыз.",
    },
    "ACCOUNT_PENDING_DELETION": {
        "en": "Your account is being deleted. Contact support to restore it.",
        "ru": "Ваш аккаунт удаляется. Чтобы восстановить его, обратитесь в поддержку.",
        "ky": "Аккаунтуңуз өчүрүлүүдө. Калыбына келтирүү үчүн колдоо кызматына кайрылыңыз.",
    },
    "CLIENT_DELETED": {
        "en": "This account has been deleted.",
        "ru": "Этот аккаунт удалён.",
        "ky": "Бул аккаунт өчүрүлгөн.",
    },
    "SESSION_ACTIVE": {
        "en": "You have a charging session running. Stop it first, then delete the account.",
        "ru": "У вас идёт сессия зарядки. Сначала остановите её, затем удалите аккаунт.",
        "ky": "Сизде кубаттоо сессиясы жүрүп жатат. Адегенде аны токтотуп, андан кийин "
        "аккаунтту өчүрүңүз.",
    },
}
