"""The payment sandbox: the providers' side of their real protocols, for development.

A top-up in the demo goes through exactly the code production runs: our provider client
calls the "provider" here over HTTP (O!Dengi's signed JSON API, Click's Merchant API), and
the checkout page the app opens is a page here whose Pay button makes the "provider" call
our real callback or webhook endpoint over HTTP, signed exactly as that provider signs —
verification, deduplication and the one crediting path included. Nothing here touches our
payments or wallets directly.

    store.py    the fake providers' own memory (the cache, a day; not our database)
    calls.py    HTTP from the "provider" to our endpoints
    odengi.py   O!Dengi: the JSON API (createInvoice, statusPayment, ...) and the QR payment
    payme.py    Payme: the checkout, then Check/Create/Perform (or Cancel) over JSON-RPC
    click.py    Click: the payment page, Prepare/Complete, and the Merchant API's statuses
    views.py    the checkout pages (Pay / Decline) and the APIs' edges
    urls.py     mounted under /sandbox/ only when PAYMENT_SANDBOX is on (never in production)

OBANK is not sandboxed: our client talks to it over mutual TLS with a client certificate and
verifies the server's, which a plain-HTTP development server cannot play.
"""
