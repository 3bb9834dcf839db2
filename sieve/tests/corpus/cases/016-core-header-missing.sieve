if header :contains "x-missing" "" { discard; } else { redirect "x@example.org"; }
