if address :contains "from" "Example" { discard; } else { keep; }
