if size :under 100 { discard; } else { redirect "big@example.org"; }
