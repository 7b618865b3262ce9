"""Human messages for error codes, in the client's language (ru, ky, en).

The language is the authenticated client's own when the profile sets one, else the best
of Accept-Language, else English. Add a code here when you add it to a view.
"""

from __future__ import annotations

import importlib
from functools import cache

LANGUAGES = ("ru", "ky", "en")

MESSAGES: dict[str, dict[str, str]] = {
    "VALIDATION_ERROR": {
        "en": "Some fields are invalid.",
        "ru": "Некоторые поля заполнены неверно.",
        "ky": "Айрым талаалар туура эмес толтурулган.",
    },
    "MALFORMED_REQUEST": {
        "en": "The request could not be read.",
        "ru": "Не удалось прочитать запрос.",
        "ky": "Сурамды окуу мүмкүн болгон жок.",
    },
    "UNAUTHENTICATED": {
        "en": "Please log in.",
        "ru": "Пожалуйста, войдите.",
        "ky": "Сураныч, кириңиз.",
    },
    "TOKEN_INVALID": {
        "en": "Your session has expired. Please log in again.",
        "ru": "Сессия истекла. Войдите снова.",
        "ky": "Сессия бүттү. Кайра кириңиз.",
    },
    "FORBIDDEN": {
        "en": "You are not allowed to do this.",
        "ru": "Это действие запрещено.",
        "ky": "Бул аракетке уруксат жок.",
    },
    "NOT_FOUND": {"en": "Not found.", "ru": "Не найдено.", "ky": "Табылган жок."},
    "METHOD_NOT_ALLOWED": {
        "en": "This method is not allowed here.",
        "ru": "Этот метод здесь не разрешён.",
        "ky": "Бул жерде бул ыкмага уруксат жок.",
    },
    "NOT_ACCEPTABLE": {
        "en": "Cannot answer in the requested format.",
        "ru": "Невозможно ответить в запрошенном формате.",
        "ky": "Суралган форматта жооп берүү мүмкүн эмес.",
    },
    "UNSUPPORTED_MEDIA_TYPE": {
        "en": "Send JSON.",
        "ru": "Отправьте JSON.",
        "ky": "JSON жөнөтүңүз.",
    },
    "RATE_LIMITED": {
        "en": "Too many requests. Please try again later.",
        "ru": "Слишком много запросов. Попробуйте позже.",
        "ky": "Өтө көп сурам. Кийинчерээк аракет кылыңыз.",
    },
    "SERVICE_UNAVAILABLE": {
        "en": "The service is temporarily unavailable. Please try again.",
        "ru": "Сервис временно недоступен. Попробуйте ещё раз.",
        "ky": "Кызмат убактылуу жеткиликсиз. Кайра аракет кылыңыз.",
    },
    "ERROR": {
        "en": "Something went wrong.",
        "ru": "Что-то пошло не так.",
        "ky": "Бир нерсе туура эмес болду.",
    },
}


# each app keeps its own codes in <app>/api/messages.py as MESSAGES = {code: {lang: text}}
APP_MESSAGE_MODULES = (
    "accounts.api.messages",
    "stations.api.messages",
    "charging.api.messages",
    "payments.api.messages",
)


@cache
def all_messages() -> dict[str, dict[str, str]]:
    merged = dict(MESSAGES)
    for name in APP_MESSAGE_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if not (exc.name and f"{name}.".startswith(f"{exc.name}.")):
                raise  # a module that exists but fails to import: a real bug
            continue
        merged.update(module.MESSAGES)
    return merged


def request_language(request) -> str:
    """The authenticated client's language, else the best supported one in Accept-Language
    (q-values honoured, q=0 means "not this one", ties keep the header's order), else en."""
    if request is None:
        return "en"
    language = getattr(_authenticated_user(request), "language", None)
    if language in LANGUAGES:
        return language
    return accept_language(request.META.get("HTTP_ACCEPT_LANGUAGE", ""))


def _authenticated_user(request):
    # A DRF Request authenticates lazily on `.user`; an error raised before authentication
    # (e.g. 406 from content negotiation) must not trigger it here: a bad token would then
    # raise inside the exception handler. Use only what authentication already found.
    if hasattr(request, "_request"):
        return vars(request).get("_user")
    return getattr(request, "user", None)


def accept_language(header: str) -> str:
    ranked = []
    for position, part in enumerate(header.split(",")):
        tag, *params = (piece.strip() for piece in part.split(";"))
        weight = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        language = tag.split("-")[0].split("_")[0].lower()
        if weight > 0 and language in LANGUAGES:
            ranked.append((-weight, position, language))
    return min(ranked)[2] if ranked else "en"


def message_for(code: str, request) -> str:
    texts = all_messages().get(code) or MESSAGES["ERROR"]
    return texts.get(request_language(request) if request is not None else "en", texts["en"])
