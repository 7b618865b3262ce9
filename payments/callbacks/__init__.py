"""The endpoints payment providers call (callbacks, the Merchant and SHOP APIs, the card
page's return): edges that verify the provider's signature and call the payment services."""
