# Mail about an account: sign-up and a forgotten password.

account-hello = Hello,
account-hello-name = Hello { $name },
signup-exists-subject = Someone tried to sign up with your address
signup-exists = Someone (perhaps you) tried to sign up with this address, which already has an account. Nothing was changed.
signup-exists-reset = If you have forgotten your password, choose a new one here:
signup-exists-ignore = If it was not you, ignore this message.
signup-confirm-subject = Confirm your sign-up
signup-confirm = To confirm your sign-up, open this link within 24 hours:
signup-confirm-ignore = If you did not sign up, ignore this message: no account is made without it.
account-token = The token: { $token }
reset-subject = Reset your password
reset = To choose a new password, open this link within an hour:
reset-ignore = If you did not ask for this, ignore this message.
