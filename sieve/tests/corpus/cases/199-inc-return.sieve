require "include";
include "early-return";
redirect "after@example.org";
