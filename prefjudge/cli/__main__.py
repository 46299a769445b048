from prefjudge.cli import main

main()
