if address "to" "BOB@example.net" { discard; }
