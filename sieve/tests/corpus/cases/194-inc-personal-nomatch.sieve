require "include";
include "spam-rules";
