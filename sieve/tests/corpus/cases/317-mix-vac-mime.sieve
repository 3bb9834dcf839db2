require "vacation";
vacation :mime :subject "Away" "Content-Type: text/plain; charset=utf-8

I am away.";
