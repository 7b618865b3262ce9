"""Human messages for error codes, in the client's language (ru, ky, en).

The language is the authenticated client's own, else the best of Accept-Language,
else English. Add a code here when you add it to a view.
"""

from __future__ import annotations

import importlib
from functools import cache

LANGUAGES = ("ru", "ky", "en")

MESSAGES: dict[str, dict[str, str]] = {
    "VALIDATION_ERROR": {"en": "Some fields are invalid.",
                         "ru": "Некоторые поля заполнены неверно.",
                         "ky": "Айрым талаалар туура эмес толтурулган."},
    "MALFORMED_REQUEST": {"en": "The request could not be read.",
                          "ru": "Не удалось прочитать запрос.",
                          "ky": "Сурамды окуу мүмкүн болгон жок."},
    "UNAUTHENTICATED": {"en": "Please log in.", "ru": "Пожалуйста, войдите.",
                        "ky": "Сураныч, кириңиз."},
    "TOKEN_INVALID": {"en": "Your session has expired. Please log in again.",
                      "ru": "Сессия истекла. Войдите снова.",
                      "ky": "Сессия бүттү. Кайра кириңиз."},
    "FORBIDDEN": {"en": "You are not allowed to do this.", "ru": "Это действие запрещено.",
                  "ky": "Бул аракетке уруксат жок."},
    "NOT_FOUND": {"en": "Not found.", "ru": "Не найдено.", "ky": "Табылган жок."},
    "METHOD_NOT_ALLOWED": {"en": "This method is not allowed here.",
                           "ru": "Этот метод здесь не разрешён.",
                           "ky": "Бул жерде бул ыкмага уруксат жок."},
    "NOT_ACCEPTABLE": {"en": "Cannot answer in the requested format.",
                       "ru": "Невозможно ответить в запрошенном формате.",
                       "ky": "Суралган форматта жооп берүү мүмкүн эмес."},
    "UNSUPPORTED_MEDIA_TYPE": {"en": "Send JSON.", "ru": "Отправьте JSON.",
                               "ky": "JSON жөнөтүңүз."},
    "RATE_LIMITED": {"en": "Too many requests. Please try again later.",
                     "ru": "Слишком много запросов. Попробуйте позже.",
                     "ky": "Өтө көп сурам. Кийинчерээк аракет кылыңыз."},
    "ERROR": {"en": "Something went wrong.", "ru": "Что-то пошло не так.",
              "ky": "Бир нерсе туура эмес болду."},
}


# each app keeps its own codes in <app>/api/messages.py as MESSAGES = {code: {lang: text}}
APP_MESSAGE_MODULES = ("accounts.api.messages", "stations.api.messages",
                       "charging.api.messages", "payments.api.messages")


@cache
def all_messages() -> dict[str, dict[str, str]]:
    merged = dict(MESSAGES)
    for name in APP_MESSAGE_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        merged.update(module.MESSAGES)
    return merged


def request_language(request) -> str:
    client = getattr(request, "user", None)
    language = getattr(client, "language", None)
    if language in LANGUAGES:
        return language
    header = request.META.get("HTTP_ACCEPT_LANGUAGE", "") if request is not None else ""
    ranked = []
    for part in header.split(","):
        tag, _, quality = part.strip().partition(";q=")
        try:
            weight = float(quality) if quality else 1.0
        except ValueError:
            continue
        ranked.append((weight, tag.split("-")[0].lower()))
    for _, tag in sorted(ranked, reverse=True):
        if tag in LANGUAGES:
            return tag
    return "en"


def message_for(code: str, request) -> str:
    texts = all_messages().get(code) or MESSAGES["ERROR"]
    return texts.get(request_language(request) if request is not None else "en", texts["en"])
