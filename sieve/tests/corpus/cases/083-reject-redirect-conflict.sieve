# expect: runtime error
require "reject";
redirect "x@example.org";
reject "no";
