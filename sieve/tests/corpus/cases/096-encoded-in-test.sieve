require "encoded-character";
if header :contains "subject" "${hex:46 72 69}day" { discard; }
