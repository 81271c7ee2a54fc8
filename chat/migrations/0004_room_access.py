from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('chat', '0003_message_user'),
    ]

    operations = [
        migrations.AddField(
            model_name='room',
            name='access',
            field=models.CharField(choices=[('public', 'public: anyone'), ('members', 'members: signed-in users'), ('staff', 'staff: staff users')], default='public', max_length=8),
        ),
    ]
