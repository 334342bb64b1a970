"""A shopper's journey through a Python client generated from docs/openapi.json.

Run by .ci/client-journey.sh: register, log in, search, add to the cart, place an order and
read it back, with nothing but the generated code. Exits non-zero at the first surprise.
"""

import sys
import uuid

from commerce_rs_shop_api_client import AuthenticatedClient, Client
from commerce_rs_shop_api_client.api.auth import login, register
from commerce_rs_shop_api_client.api.catalog import list_products
from commerce_rs_shop_api_client.api.orders import add_to_cart, get_cart, get_order, place_order
from commerce_rs_shop_api_client.models import (
    AddToCart,
    Cart,
    ListProductsOrdering,
    LoginRequest,
    Order,
    PageProduct,
    PlaceOrderRequest,
    RegisterRequest,
    TokenPairBody,
)


def expect(value, kind, what):
    if not isinstance(value, kind):
        sys.exit(f"{what}: expected {kind.__name__}, got {value!r}")
    return value


def main(base_url: str) -> None:
    anonymous = Client(base_url=base_url)
    name = "journey" + uuid.uuid4().hex[:8]
    password = "journey-password"
    created = register.sync_detailed(
        client=anonymous,
        body=RegisterRequest(username=name, email=f"{name}@example.com", password=password),
    )
    if created.status_code != 201:
        sys.exit(f"register: {created.status_code} {created.content!r}")
    tokens = expect(
        login.sync(client=anonymous, body=LoginRequest(username=name, password=password)),
        TokenPairBody,
        "login",
    )
    shopper = AuthenticatedClient(base_url=base_url, token=tokens.access)

    found = expect(
        list_products.sync(client=shopper, search="tea", ordering=ListProductsOrdering.PRICE),
        PageProduct,
        "search",
    )
    if found.count < 1 or not found.results:
        sys.exit(f"search found nothing: {found!r}")
    product = found.results[0]

    cart = expect(
        add_to_cart.sync(client=shopper, body=AddToCart(product=product.id, quantity=2)),
        Cart,
        "add to cart",
    )
    if cart.item_count != 2:
        sys.exit(f"cart: {cart!r}")

    order = expect(
        place_order.sync(
            client=shopper,
            body=PlaceOrderRequest(note="left at the door"),
            idempotency_key=str(uuid.uuid4()),
        ),
        Order,
        "place order",
    )
    again = expect(get_order.sync(client=shopper, id=order.id), Order, "read order")
    if again.id != order.id or again.items[0].product != product.id or again.items[0].quantity != 2:
        sys.exit(f"order read back differs: {again!r}")
    if again.total != order.total or again.status.value != "pending":
        sys.exit(f"order: {again!r}")
    emptied = expect(get_cart.sync(client=shopper), Cart, "cart after checkout")
    if emptied.item_count != 0:
        sys.exit(f"cart not emptied: {emptied!r}")
    print(f"journey ok: order {order.id}, total {order.total} {order.currency}")


if __name__ == "__main__":
    main(sys.argv[1])
