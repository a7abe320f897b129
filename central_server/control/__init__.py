"""The downlink: the control outbox (central -> edge messages) and the dispatcher that delivers it."""
