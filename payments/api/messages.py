"""Messages for the payments error codes (merged by evpower.api.messages)."""

MESSAGES: dict[str, dict[str, str]] = {
    "INSUFFICIENT_BALANCE": {"en": "Not enough money in your wallet. Please top up.",
                             "ru": "Недостаточно средств на балансе. Пополните кошелёк.",
                             "ky": "Капчыкта каражат жетишсиз. Балансты толуктаңыз."},
    "IDEMPOTENCY_CONFLICT": {"en": "This request key was already used for a different request.",
                             "ru": "Этот ключ запроса уже использован для другого запроса.",
                             "ky": "Бул сурамдын ачкычы башка сурам үчүн колдонулган."},
    "HOLD_CLOSED": {"en": "This payment reservation is already closed.",
                    "ru": "Это резервирование средств уже закрыто.",
                    "ky": "Бул каражатты резервдөө жабылган."},
    "REFUND_EXCEEDS_CHARGE": {"en": "The refund is larger than what was charged.",
                              "ru": "Сумма возврата больше списанной суммы.",
                              "ky": "Кайтарылуучу сумма алынган суммадан көп."},
    "INVALID_AMOUNT": {"en": "The amount is invalid.",
                       "ru": "Неверная сумма.",
                       "ky": "Сумма туура эмес."},
    "ADJUSTMENT_NOT_ALLOWED": {"en": "This balance adjustment is not allowed.",
                               "ru": "Такая корректировка баланса не разрешена.",
                               "ky": "Балансты мындай оңдоого уруксат жок."},
}
