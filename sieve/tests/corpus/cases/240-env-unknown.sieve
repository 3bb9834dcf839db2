require "environment";
if environment :contains "x-no-such-item" "" { discard; } else { keep; }
