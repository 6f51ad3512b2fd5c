"""Attribution models as pure functions: touches in, exact weights and minor units out."""
