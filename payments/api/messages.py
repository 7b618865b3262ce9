"""Messages for the payments error codes (merged by evpower.api.messages)."""

MESSAGES: dict[str, dict[str, str]] = {
    "INSUFFICIENT_BALANCE": {
        "en": "Not enough money in your wallet. Please top up.",
        "ru": "Недостаточно средств на балансе. Пополните кошелёк.",
        "ky": "Капчыкта каражат жетишсиз. Балансты толуктаңыз.",
    },
    "IDEMPOTENCY_CONFLICT": {
        "en": "This request key was already used for a different request.",
        "ru": "Этот ключ запроса уже использован для другого запроса.",
        "ky": "Бул сурамдын ачкычы башка сурам үчүн колдонулган.",
    },
    "IDEMPOTENCY_IN_PROGRESS": {
        "en": "This request is already being processed. Please wait.",
        "ru": "Этот запрос уже обрабатывается. Подождите.",
        "ky": "Бул сурам иштетилип жатат. Күтө туруңуз.",
    },
    "HOLD_CLOSED": {
        "en": "This payment reservation is already closed.",
        "ru": "Это резервирование средств уже закрыто.",
        "ky": "Бул каражатты резервдөө жабылган.",
    },
    "REFUND_EXCEEDS_CHARGE": {
        "en": "The refund is larger than what was charged.",
        "ru": "Сумма возврата больше списанной суммы.",
        "ky": "Кайтарылуучу сумма алынган суммадан көп.",
    },
    "INVALID_AMOUNT": {
        "en": "The amount is invalid.",
        "ru": "Неверная сумма.",
        "ky": "Сумма туура эмес.",
    },
    "ADJUSTMENT_NOT_ALLOWED": {
        "en": "This balance adjustment is not allowed.",
        "ru": "Такая корректировка баланса не разрешена.",
        "ky": "Балансты мындай оңдоого уруксат жок.",
    },
    "TOPUP_AMOUNT_OUT_OF_RANGE": {
        "en": "The top-up amount is outside the allowed range.",
        "ru": "Сумма пополнения вне допустимого диапазона.",
        "ky": "Толуктоо суммасы уруксат берилген чектен тышкары.",
    },
    "PROVIDER_NOT_AVAILABLE": {
        "en": "This payment method is not available.",
        "ru": "Этот способ оплаты недоступен.",
        "ky": "Бул төлөм ыкмасы жеткиликсиз.",
    },
    "PAYMENT_PROVIDER_ERROR": {
        "en": "The payment service is not responding. Please try later or choose another method.",
        "ru": "Платёжный сервис не отвечает. Попробуйте позже или выберите другой способ.",
        "ky": "Төлөм кызматы жооп бербей жатат. Кийинчерээк аракет "
        "кылыңыз же башка ыкманы тандаңыз.",
    },
    "AMOUNT_MISMATCH": {
        "en": "The paid amount does not match the payment.",
        "ru": "Оплаченная сумма не совпадает с платежом.",
        "ky": "Төлөнгөн сумма төлөмгө дал келбейт.",
    },
    "PROVIDER_TRANSACTION_MISMATCH": {
        "en": "The payment belongs to another transaction.",
        "ru": "Платёж относится к другой транзакции.",
        "ky": "Төлөм башка транзакцияга таандык.",
    },
    "PAYMENT_NOT_OPEN": {
        "en": "This payment can no longer be cancelled.",
        "ru": "Этот платёж уже нельзя отменить.",
        "ky": "Бул төлөмдү мындан ары жокко чыгарууга болбойт.",
    },
    "PAYMENT_NOT_REFUNDABLE": {
        "en": "This payment cannot be refunded.",
        "ru": "Этот платёж нельзя вернуть.",
        "ky": "Бул төлөмдү кайтарууга болбойт.",
    },
}
