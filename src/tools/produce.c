/* produce.c - placeholder until the command is written: says so and fails. */
#include <stdio.h>

#include "tools/tools.h"

int tool_produce_main(int argc, char **argv)
{
    (void)argc;
    fprintf(stderr, "gregor %s: not implemented yet\n", argv[0]);
    return 1;
}
