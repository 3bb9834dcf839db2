# from: mallory@evil.example
require "envelope";
if envelope :is "from" "alice@example.com" { discard; } else { keep; }
