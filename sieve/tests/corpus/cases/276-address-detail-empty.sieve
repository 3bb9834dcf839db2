require "subaddress";
if address :detail :is "to" "" { discard; } else { keep; }
